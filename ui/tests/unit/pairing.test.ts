import { describe, expect, it } from 'vitest';
import { clockTime } from '../../src/lib/format';
import { askedText, countdown, pairCodeProblem, validityText } from '../../src/lib/pairing';

describe('pairing', () => {
  it('counts a code down in minutes and seconds', () => {
    expect(countdown(102)).toBe('1:42');
    expect(countdown(60)).toBe('1:00');
    expect(countdown(9)).toBe('0:09');
    expect(countdown(-3)).toBe('0:00');
  });

  it('says how long a code is valid, rounding up, and when a new one is coming', () => {
    const now = 1_000_000;
    expect(validityText(now + 102_000, now)).toBe('Valid for 1:42');
    expect(validityText(now + 101_200, now)).toBe('Valid for 1:42');
    expect(validityText(now, now)).toBe('Expired — getting a new code…');
  });

  it('accepts a code however it is typed; catches only empty and wrong-length ones', () => {
    expect(pairCodeProblem('ABCD-EFGH')).toBeNull();
    expect(pairCodeProblem(' abcd efgh ')).toBeNull();
    expect(pairCodeProblem('abcdefgh')).toBeNull();
    expect(pairCodeProblem('ABCD\u2013EFGH')).toBeNull();
    expect(pairCodeProblem('  ')).toBe('Enter the code the new device shows.');
    expect(pairCodeProblem('--')).toBe('Enter the code the new device shows.');
    expect(pairCodeProblem('ABCD-EFG')).toBe('A code has 8 letters and digits, like ABCD-EFGH.');
    expect(pairCodeProblem('ABCD-EFGHJ')).toBe('A code has 8 letters and digits, like ABCD-EFGH.');
  });

  it('says when a device asked: clock time and seconds ago', () => {
    const at = new Date(2025, 11, 1, 14, 2, 5).getTime();
    expect(askedText(at, at + 12_400)).toBe(`asked at ${clockTime(at)} (12 seconds ago)`);
    expect(askedText(at, at + 1_000)).toBe(`asked at ${clockTime(at)} (1 second ago)`);
    expect(askedText(at, at + 65_000)).toBe(`asked at ${clockTime(at)} (1 minute ago)`);
    expect(askedText(at, at - 2_000)).toBe(`asked at ${clockTime(at)} (0 seconds ago)`);
    expect(askedText(at, at + 3 * 3600_000 + 7 * 60_000)).toBe(`asked at ${clockTime(at)} (3 hours ago)`);
  });
});
