/**
 * Paste the URL template from Switchboard's dashboard (connection page, "Click-to-call") here
 * before `npm run build` / `npx attio deploy`. It looks like
 * `https://switchboard.example.com/call/conn_…/{person_id}?k=…`.
 */
export const CALL_PAGE_TEMPLATE = "https://switchboard.example.com/call/CONNECTION_ID/{person_id}?k=LINK_SECRET"
