/**
 * How the Usage panel shares its height between its open sections: pure functions of
 * what each section holds, so that a laptop's 700 px still show every section's first
 * lines (three kernels among them).
 */

/**
 * Pixels from the top of a section's content to the end of its first lines: the
 * first meter's figure and bar (its chart may wait), three kernels, the cost so far and per hour, the first past session.
 * Null when the section has none of them yet.
 */
export function firstLinesHeight(
  name: string,
  content: HTMLElement
): number | null {
  const last =
    name === 'kernels'
      ? [...content.querySelectorAll('tbody tr')].slice(0, 3).pop()
      : content.querySelector(
          name === 'now'
            ? '.jp-Usage-meter .jp-Usage-bar'
            : name === 'session'
              ? '[data-key="cost-per-hour"]'
              : '.jp-Usage-sessions > li, tbody tr'
        );
  if (!last) {
    return null;
  }
  const top = content.getBoundingClientRect().top;
  return last.getBoundingClientRect().bottom - top + 16;
}

/**
 * Heights for sections that want `full` and need at least `first`, in `available`
 * pixels: everyone's `full` when it fits (the rest in the same proportions, as the
 * accordion shares relative sizes), else `first` each and the remainder in proportion
 * to what each still lacks.
 */
export function shareHeight(
  sections: readonly { full: number; first: number }[],
  available: number
): number[] {
  const full = sections.reduce((sum, s) => sum + s.full, 0);
  if (available <= 0 || full <= available) {
    return sections.map(s => s.full);
  }
  const first = sections.reduce((sum, s) => sum + s.first, 0);
  if (first >= available) {
    return sections.map(s => s.first);
  }
  const lacking = full - first;
  return sections.map(
    s => s.first + ((available - first) * (s.full - s.first)) / lacking
  );
}
