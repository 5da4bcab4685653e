import { LabIcon } from '@jupyterlab/ui-components';

const svg = `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 24 24" width="16" height="16">
  <path class="jp-icon3" fill="#616161" d="M3 20h18v2H3zm2-2V10h3v8zm5 0V4h3v14zm5 0v-6h3v6z"/>
</svg>`;

export const usageIcon = new LabIcon({
  name: 'jupyter-usage:usage',
  svgstr: svg
});
