import { shareHeight } from '../widgets/panelFit';

describe('shareHeight', () => {
  const now = { full: 500, first: 90 };
  const kernels = { full: 130, first: 130 };
  const session = { full: 300, first: 80 };
  const history = { full: 400, first: 70 };

  it('gives each section all it wants when everything fits', () => {
    expect(shareHeight([now, kernels], 800)).toEqual([500, 130]);
  });

  it('gives each its first lines, then shares by what each still lacks', () => {
    // 700 px for 1330 px of content: three kernels keep their rows.
    const heights = shareHeight([now, kernels, session, history], 700);
    expect(heights[1]).toBe(130);
    expect(heights.reduce((a, b) => a + b, 0)).toBeCloseTo(700);
    heights.forEach((height, i) => {
      const section = [now, kernels, session, history][i];
      expect(height).toBeGreaterThanOrEqual(section.first);
      expect(height).toBeLessThanOrEqual(section.full);
    });
  });

  it('gives only the first lines when even those do not fit', () => {
    expect(shareHeight([now, kernels, session, history], 300)).toEqual([
      90, 130, 80, 70
    ]);
  });
});
