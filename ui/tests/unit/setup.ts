import '@testing-library/jest-dom/vitest';
import { cleanup } from '@testing-library/svelte';
import { afterEach, vi } from 'vitest';
import { clearTimelines } from '../../src/lib/timelines.svelte';

afterEach(() => {
  // Unmount first: a component's teardown may still call the mocks.
  cleanup();
  clearTimelines();
  vi.clearAllMocks();
  vi.useRealTimers();
});
