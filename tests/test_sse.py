from velotrain.sse import ServerEvent, read_events


def test_read_events_names_ids_and_data():
    lines = ["event: epoch", "id: 3", 'data: {"epoch": 3}', "", "data: plain", ""]
    assert list(read_events(lines)) == [
        ServerEvent("epoch", '{"epoch": 3}', "3"),
        ServerEvent("message", "plain", None),
    ]


def test_read_events_skips_comments_and_retry():
    lines = [": keep-alive", "", "retry: 3000", "", "event: end", "data: {}", ""]
    assert list(read_events(lines)) == [ServerEvent("end", "{}", None)]


def test_read_events_joins_data_lines():
    lines = ["data: one", "data:two", ""]
    assert list(read_events(lines)) == [ServerEvent("message", "one\ntwo", None)]


def test_read_events_drops_unfinished_event():
    assert list(read_events(["event: status", "data: {}"])) == []
