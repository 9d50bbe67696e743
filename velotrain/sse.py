"""Read server-sent events (the text/event-stream format) from lines of text."""

from collections.abc import Iterable, Iterator
from dataclasses import dataclass


@dataclass(frozen=True)
class ServerEvent:
    """One event: its name ("message" when unnamed), its data, and its own id."""

    name: str
    data: str
    id: str | None = None


def read_events(lines: Iterable[str]) -> Iterator[ServerEvent]:
    """Yield the events in `lines` (without line ends), skipping comments.

    An event ends at an empty line. An event without data lines is dropped, as
    browsers do, and `retry` fields are ignored.
    """
    name, data, event_id = "message", [], None
    for line in lines:
        if not line:
            if data:
                yield ServerEvent(name, "\n".join(data), event_id)
            name, data, event_id = "message", [], None
            continue
        if line.startswith(":"):
            continue
        field, _, value = line.partition(":")
        value = value.removeprefix(" ")
        if field == "event":
            name = value
        elif field == "data":
            data.append(value)
        elif field == "id":
            event_id = value
