import { dashboardPlugin } from './dashboard/plugin';
import { panelPlugin } from './plugins/panel';
import { summaryPlugin } from './plugins/summary';

export { CommandIDs, IUsageModel } from './tokens';
export type { UsagePart } from './tokens';
export * from './wire';

export default [panelPlugin, summaryPlugin, dashboardPlugin];
