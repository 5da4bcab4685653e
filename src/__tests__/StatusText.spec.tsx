import { fireEvent, render, screen } from '@testing-library/react';
import * as React from 'react';

import { StatusText } from '../components/StatusText';
import { GIB, session, snapshot } from './fixtures';
import { trans } from './translator';

describe('StatusText', () => {
  it('reads CPU, memory and cost compactly and opens the panel on click', () => {
    const onClick = jest.fn();
    render(
      <StatusText
        snapshot={snapshot()}
        session={session()}
        error={null}
        warnAt={0.9}
        trans={trans}
        onClick={onClick}
        locale="en-US"
      />
    );
    const button = screen.getByRole('button');
    expect(button.textContent).toBe('CPU 0.40/2.0 · Mem 1.2/4.0 GiB · $0.31');
    fireEvent.click(button);
    expect(onClick).toHaveBeenCalled();
  });

  it('marks a figure near its limit', () => {
    const s = snapshot();
    s.memory.used_bytes = 3.9 * GIB;
    const { container } = render(
      <StatusText
        snapshot={s}
        session={null}
        error={null}
        warnAt={0.9}
        trans={trans}
        onClick={jest.fn()}
      />
    );
    const memory = container.querySelector('[data-key="memory"]');
    expect(memory?.className).toBe('jp-Usage-status-warn');
    expect(container.querySelector('[data-key="cpu"]')?.className).toBe('');
  });

  it('says when usage is unavailable', () => {
    render(
      <StatusText
        snapshot={null}
        session={null}
        error="Forbidden"
        warnAt={0.9}
        trans={trans}
        onClick={jest.fn()}
      />
    );
    const button = screen.getByRole('button');
    expect(button.textContent).toBe('Usage unavailable');
    expect(button.getAttribute('title')).toBe('Usage: Forbidden');
  });
});
