import { render } from '@testing-library/react';
import * as React from 'react';

import { ConfigErrors } from '../components/ConfigErrors';
import { IConfigError } from '../wire';
import { trans } from './translator';

const refused: IConfigError = {
  trait: 'UsageApp.report_interval',
  value: '3',
  message:
    'UsageApp.report_interval must be between 10 and 86400, got 3; using the default, 60.0, and keeping every other setting',
  kind: 'refused',
  source: null
};

const ignored: IConfigError = {
  trait: 'CostModel.cpu_core_hour',
  value: '36',
  message:
    'CostModel.cpu_core_hour in /etc/jupyter/jupyter_server_config.d/rates.json is ignored: …',
  kind: 'ignored',
  source: '/etc/jupyter/jupyter_server_config.d/rates.json'
};

describe('ConfigErrors', () => {
  it('names the refused setting as the admin wrote it', () => {
    const { container } = render(
      <ConfigErrors errors={[refused]} trans={trans} />
    );
    const line = container.querySelector('[data-key="config-errors"]');
    expect(line?.getAttribute('role')).toBe('alert');
    expect(line?.firstChild?.textContent).toBe(
      'Config error: UsageApp.report_interval = 3 refused, default used'
    );
    expect(line?.getAttribute('title')).toBe(refused.message);
  });

  it('says where an ignored setting is, and how many more there are', () => {
    const { container } = render(
      <ConfigErrors errors={[ignored, refused]} trans={trans} />
    );
    const line = container.querySelector('[data-key="config-errors"]');
    expect(line?.firstChild?.textContent).toBe(
      'Config error: CostModel.cpu_core_hour in jupyter_server_config.d/rates.json is ignored (and 1 more)'
    );
    expect(line?.textContent).toContain(refused.message);
  });

  it('shows nothing for a clean config', () => {
    const { container } = render(<ConfigErrors errors={[]} trans={trans} />);
    expect(container.innerHTML).toBe('');
    render(<ConfigErrors errors={undefined} trans={trans} />);
  });
});
