import { render, screen, waitFor, within } from '@testing-library/svelte';
import userEvent from '@testing-library/user-event';
import { describe, expect, it, vi } from 'vitest';
import { backend } from '../../src/lib/backend';
import Diagnostics from '../../src/lib/components/Diagnostics.svelte';
import { applyTimelineUpdate } from '../../src/lib/timelines.svelte';
import { connectedAccount, entry, sampleTimelines, viewWith } from '../fixtures/views.js';

vi.mock('../../src/lib/backend', () => import('./mock-backend'));
const mocked = vi.mocked(backend);

/** Renders the log of a connected account whose history came down `subscribeTimeline`, as App wires it. */
async function renderDiagnostics() {
  const shown = connectedAccount();
  const shownView = viewWith(shown);
  const history = sampleTimelines(shownView);
  mocked.subscribeTimeline.mockImplementationOnce(async (onUpdate) => {
    for (const update of history) onUpdate(update);
  });
  await backend.subscribeTimeline(applyTimelineUpdate);
  const onback = vi.fn();
  render(Diagnostics, { view: shownView, account: shown, onback });
  return { shown, timeline: history[0].entries, onback };
}

describe('Diagnostics', () => {
  it('lists the timeline newest first with kind badges', async () => {
    const { timeline } = await renderDiagnostics();
    const entries = screen.getAllByTestId('timeline-entry');
    expect(entries).toHaveLength(timeline.length);
    // Said from the code, not the backend's English line.
    expect(within(entries[0]).getByTestId('timeline-text')).not.toHaveTextContent('kick refused');
    expect(within(entries[1]).getByTestId('timeline-text')).toHaveTextContent('You signed out phone-77aa');
    expect(within(entries[0]).getByTestId('timeline-kind')).toHaveTextContent('Error');
    expect(within(entries[0]).getByTestId('timeline-text')).toHaveTextContent('414');
    expect(within(entries.at(-1)!).getByTestId('timeline-text')).toHaveTextContent('You logged in as alice to chat.example.com');
    expect(within(entries.at(-1)!).getByTestId('timeline-kind')).toHaveTextContent('You');
    const times = entries.map((e) => Date.parse(e.querySelector('time')!.getAttribute('datetime')!));
    expect(times).toEqual([...times].sort((a, b) => b - a));
  });

  it('exports and shows the path', async () => {
    const user = userEvent.setup();
    const { shown } = await renderDiagnostics();
    expect(screen.queryByTestId('export-path')).toBeNull();
    await user.click(screen.getByRole('button', { name: 'Export…' }));
    expect(mocked.exportDiagnostics).toHaveBeenCalledWith(shown.id);
    expect(await screen.findByTestId('export-path')).toHaveTextContent('/home/me/.local/share/vestibule/diag.json');
  });

  it('shows a failed export', async () => {
    const user = userEvent.setup();
    mocked.exportDiagnostics.mockRejectedValueOnce({
      code: 'storage',
      field: null,
      serverCode: null,
      retryAfterMs: null,
      detail: 'disk full',
    });
    await renderDiagnostics();
    await user.click(screen.getByRole('button', { name: 'Export…' }));
    const error = await screen.findByTestId('export-error');
    expect(error).toHaveTextContent('Vestibule could not save its settings.');
    expect(error).not.toHaveTextContent('disk full');
  });

  it('copies the JSON of the account with its timeline, without any token field', async () => {
    const user = userEvent.setup();
    const writeText = vi.fn(async (_text: string) => {});
    Object.defineProperty(navigator, 'clipboard', { value: { writeText }, configurable: true });
    const { shown, timeline } = await renderDiagnostics();
    await user.click(screen.getByRole('button', { name: 'Copy JSON' }));
    expect(writeText).toHaveBeenCalledTimes(1);
    const copied = JSON.parse(writeText.mock.calls[0][0]);
    expect(copied.account.id).toBe(shown.id);
    expect(copied.account).toEqual({ ...shown, timeline });
    expect(JSON.stringify(copied)).not.toMatch(/"token"/i);
  });

  it('follows the timeline stream: appends new entries, a reset replaces them', async () => {
    const { shown, timeline } = await renderDiagnostics();
    const newest = entry({ type: 'other' }, 'something only a newer backend knows');
    applyTimelineUpdate({ accountId: shown.id, entries: [newest], reset: false });
    await waitFor(() => expect(screen.getAllByTestId('timeline-entry')).toHaveLength(timeline.length + 1));
    expect(within(screen.getAllByTestId('timeline-entry')[0]).getByTestId('timeline-text')).toHaveTextContent(
      'something only a newer backend knows',
    );
    applyTimelineUpdate({ accountId: shown.id, entries: [], reset: true });
    expect(await screen.findByText('Nothing has happened yet.')).toBeInTheDocument();
    expect(screen.queryAllByTestId('timeline-entry')).toHaveLength(0);
  });

  it('says so when the timeline stream could not start', async () => {
    const shown = connectedAccount();
    render(Diagnostics, {
      view: viewWith(shown),
      account: shown,
      timelineError: 'Something went wrong inside Vestibule: no channel',
      onback: vi.fn(),
    });
    expect(screen.getByTestId('timeline-error')).toHaveTextContent('no channel');
    expect(screen.getByText('Nothing has happened yet.')).toBeInTheDocument();
  });

  it('goes back', async () => {
    const user = userEvent.setup();
    const { onback } = await renderDiagnostics();
    await user.click(screen.getByRole('button', { name: 'Back' }));
    expect(onback).toHaveBeenCalledTimes(1);
  });
});
