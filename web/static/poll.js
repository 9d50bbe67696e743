// Repeat an async task on a timer until it returns false or the view stops it.

export function poll(task, intervalMs) {
  let stopped = false;
  let timer = null;
  async function tick() {
    let again = true;
    try {
      again = (await task()) !== false;
    } catch (error) {
      console.error(error);
    }
    if (again && !stopped) timer = setTimeout(tick, intervalMs);
  }
  tick();
  return () => {
    stopped = true;
    clearTimeout(timer);
  };
}

export const TERMINAL = ["succeeded", "failed", "cancelled"];
