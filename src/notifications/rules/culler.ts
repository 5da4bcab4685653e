import { formatDuration } from '../../format';
import { INotificationRule, IReading } from '../types';

/** Seconds before the idle culler stops the server at which the user is told. */
export const CULLER_WARNINGS_SECONDS: readonly number[] = [600, 120];

/** Back above a mark by this much (the user was active again): it may warn again. */
const REARM_SECONDS = 60;

/** The idle culler's countdown, when its timeout is known: "save your work". */
export const cullerRule: INotificationRule = {
  kind: 'culler',
  read({ model, trans }) {
    const remaining = model.session?.projected?.until_cull_seconds;
    if (remaining === null || remaining === undefined) {
      return [];
    }
    return CULLER_WARNINGS_SECONDS.map(mark => {
      // Each mark fires while the countdown is inside its own window; the 2-minute
      // window is not the 10-minute one's, so both are told once.
      const next = CULLER_WARNINGS_SECONDS.find(other => other < mark) ?? 0;
      let state: IReading['state'] = 'hold';
      if (remaining <= mark && remaining > next) {
        state = 'firing';
      } else if (remaining > mark + REARM_SECONDS) {
        state = 'clear';
      }
      return {
        key: `culler:${mark}`,
        state,
        message: trans.__(
          'Save your work: the idle culler stops this server in about %1 unless you use it.',
          formatDuration(Math.max(remaining, 0))
        ),
        type: 'warning' as const
      };
    });
  }
};
