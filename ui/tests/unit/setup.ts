import '@testing-library/jest-dom/vitest';
import { cleanup } from '@testing-library/svelte';
import { afterEach, beforeEach, vi } from 'vitest';
import { setLocale } from '../../src/lib/i18n.svelte';
import { clearTimelines } from '../../src/lib/timelines.svelte';

// The unit tests read English (i18n.test.ts and friends switch on purpose).
setLocale('en');
beforeEach(() => setLocale('en'));

afterEach(() => {
  // Unmount first: a component's teardown may still call the mocks.
  cleanup();
  clearTimelines();
  vi.clearAllMocks();
  vi.useRealTimers();
});
