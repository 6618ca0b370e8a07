import { render, screen, within } from '@testing-library/svelte';
import userEvent from '@testing-library/user-event';
import { describe, expect, it, vi } from 'vitest';
import { backend } from '../../src/lib/backend';
import Diagnostics from '../../src/lib/components/Diagnostics.svelte';
import { connectedAccount, viewWith } from '../fixtures/views.js';

vi.mock('../../src/lib/backend', () => import('./mock-backend'));
const mocked = vi.mocked(backend);

function renderDiagnostics() {
  const shown = connectedAccount();
  const onback = vi.fn();
  render(Diagnostics, { view: viewWith(shown), account: shown, onback });
  return { shown, onback };
}

describe('Diagnostics', () => {
  it('lists the timeline newest first with kind badges', () => {
    const { shown } = renderDiagnostics();
    const entries = screen.getAllByTestId('timeline-entry');
    expect(entries).toHaveLength(shown.timeline.length);
    expect(within(entries[0]).getByTestId('timeline-text')).toHaveTextContent('kick refused: unknown device');
    expect(within(entries[0]).getByTestId('timeline-kind')).toHaveTextContent('Error');
    expect(within(entries[0]).getByTestId('timeline-text')).toHaveTextContent('414');
    expect(within(entries.at(-1)!).getByTestId('timeline-text')).toHaveTextContent('log in as alice');
    expect(within(entries.at(-1)!).getByTestId('timeline-kind')).toHaveTextContent('You');
    const times = entries.map((e) => Date.parse(e.querySelector('time')!.getAttribute('datetime')!));
    expect(times).toEqual([...times].sort((a, b) => b - a));
  });

  it('exports and shows the path', async () => {
    const user = userEvent.setup();
    const { shown } = renderDiagnostics();
    expect(screen.queryByTestId('export-path')).toBeNull();
    await user.click(screen.getByRole('button', { name: 'Export…' }));
    expect(mocked.exportDiagnostics).toHaveBeenCalledWith(shown.id);
    expect(await screen.findByTestId('export-path')).toHaveTextContent('/home/me/.local/share/vestibule/diag.json');
  });

  it('shows a failed export', async () => {
    const user = userEvent.setup();
    mocked.exportDiagnostics.mockRejectedValueOnce({ code: 'storage', message: 'disk full' });
    renderDiagnostics();
    await user.click(screen.getByRole('button', { name: 'Export…' }));
    expect(await screen.findByTestId('export-error')).toHaveTextContent('disk full');
  });

  it('copies the JSON of the account, without any token field', async () => {
    const user = userEvent.setup();
    const writeText = vi.fn(async (_text: string) => {});
    Object.defineProperty(navigator, 'clipboard', { value: { writeText }, configurable: true });
    const { shown } = renderDiagnostics();
    await user.click(screen.getByRole('button', { name: 'Copy JSON' }));
    expect(writeText).toHaveBeenCalledTimes(1);
    const copied = JSON.parse(writeText.mock.calls[0][0]);
    expect(copied.account.id).toBe(shown.id);
    expect(JSON.stringify(copied)).not.toMatch(/"token"/i);
  });

  it('goes back', async () => {
    const user = userEvent.setup();
    const { onback } = renderDiagnostics();
    await user.click(screen.getByRole('button', { name: 'Back' }));
    expect(onback).toHaveBeenCalledTimes(1);
  });
});
