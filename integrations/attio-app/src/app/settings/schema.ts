import {Settings} from "attio"

/**
 * No workspace settings: the call page URL is set at build time (`call-page-config.ts`).
 */
export default Settings.defineWorkspaceSchema({})
