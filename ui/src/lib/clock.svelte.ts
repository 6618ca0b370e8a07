/**
 * A ticking "now" for countdowns and relative times. Call during component
 * initialisation; the timer stops when the component is destroyed.
 */
export function useNow(intervalMs = 250): { readonly now: number } {
  const clock = $state({ now: Date.now() });
  $effect(() => {
    const timer = setInterval(() => {
      clock.now = Date.now();
    }, intervalMs);
    return () => clearInterval(timer);
  });
  return clock;
}
