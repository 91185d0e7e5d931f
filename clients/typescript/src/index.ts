export { StudioClient } from "./client.js";
export type { Session, CreateRequest, RetryPolicy, StudioClientOptions, CallOptions } from "./client.js";
export {
  StudioError,
  StudioUnauthenticatedError,
  StudioForbiddenError,
  StudioBadRequestError,
  StudioUnavailableError,
  StudioTimeoutError,
} from "./errors.js";
export type { Reason, StudioErrorDetails } from "./errors.js";
export { studioSession } from "./express.js";
export type { StudioSessionOptions, StudioRequest } from "./express.js";
export { withStudioSession } from "./next.js";
export type { WithStudioSessionOptions } from "./next.js";
import { StudioClient } from "./client.js";
export default StudioClient;
