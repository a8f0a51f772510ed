import type { Params } from '../../query.ts';
import type { XmlObject } from '../../xml.ts';
import type { Elbv2State } from '../state.ts';

export interface ActionContext {
  params: Params;
  state: Elbv2State;
}

/** One ELBv2 action: validates, changes state, returns the `…Result` element's content. */
export type Action = (context: ActionContext) => XmlObject;
