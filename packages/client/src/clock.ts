/**
 * Returns a clock of elapsed milliseconds for measuring token lifetimes. Only differences between
 * readings matter, so a client clock that is hours off the server's changes nothing.
 *
 * Each reading advances by the larger of the steps of `performance.now()` and `Date.now()`. The
 * monotonic step keeps time moving when the wall clock is set back. The wall-clock step counts
 * the time a device spent asleep, which `performance.now()` may leave out, depending on the
 * browser and the operating system. A wall clock set forward causes at most one early renewal.
 */
export function createElapsedClock(): () => number {
  let elapsed = 0;
  let lastMonotonic = performance.now();
  let lastWall = Date.now();

  return () => {
    const monotonic = performance.now();
    const wall = Date.now();
    elapsed += Math.max(monotonic - lastMonotonic, wall - lastWall, 0);
    lastMonotonic = monotonic;
    lastWall = wall;
    return elapsed;
  };
}
