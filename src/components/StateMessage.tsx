import * as React from 'react';

export interface IStateMessageProps {
  /** `error` is announced at once; the others politely. */
  kind: 'loading' | 'empty' | 'error';
  children: React.ReactNode;
}

/** Loading, empty and error states, in plain words. */
export function StateMessage(props: IStateMessageProps): JSX.Element {
  const error = props.kind === 'error';
  return (
    <div
      className={`jp-Usage-state jp-Usage-state-${props.kind}`}
      role={error ? 'alert' : 'status'}
    >
      {props.children}
    </div>
  );
}
