/** `@replaylink/tracker`: record the session with rrweb, hand out the session token, put it on the app's requests. */

export { Tracker, VERSION } from "./tracker";
export type { NetworkOptions, OriginPattern, StartOptions, StartResult, TrackerOptions } from "./options";
export { DEFAULT_HEADER } from "./options";
export { Tracker as default } from "./tracker";
