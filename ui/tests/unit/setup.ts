import '@testing-library/jest-dom/vitest';
import { cleanup } from '@testing-library/svelte';
import { afterEach, vi } from 'vitest';

afterEach(() => {
  // Unmount first: a component's teardown may still call the mocks.
  cleanup();
  vi.clearAllMocks();
  vi.useRealTimers();
});
