// Init script of the browser tests. It shifts Date by globalThis.__selloClockShift milliseconds
// (set by an earlier init script) and defines globalThis.__selloAdvanceClock(milliseconds), which
// moves both Date and performance.now forward without waiting.
(() => {
  const RealDate = Date;
  const realPerformanceNow = performance.now.bind(performance);
  const shift = Number(globalThis.__selloClockShift ?? 0);
  let advanced = 0;
  const now = () => RealDate.now() + shift + advanced;

  function TestDate(...args) {
    if (new.target === undefined) {
      return new RealDate(now()).toString();
    }
    return args.length === 0 ? new RealDate(now()) : new RealDate(...args);
  }
  TestDate.prototype = RealDate.prototype;
  TestDate.now = now;
  TestDate.parse = RealDate.parse;
  TestDate.UTC = RealDate.UTC;
  globalThis.Date = TestDate;

  performance.now = () => realPerformanceNow() + advanced;
  globalThis.__selloAdvanceClock = (milliseconds) => {
    advanced += milliseconds;
  };
})();
