/**
 * The Switchboard call page for one Attio record.
 *
 * Switchboard's dashboard shows, per connection, the call-page URL template to paste here
 * (`CALL_PAGE_TEMPLATE` in `call-page-config.ts`): it carries the connection id and the
 * connection's link secret, with `{person_id}` where the person's record id goes.
 */

export const RECORD_ID_PLACEHOLDER = "{person_id}"

/** The call page URL for `recordId`, or an Error saying what is wrong with the template. */
export function callPageUrl(template: string, recordId: string): string | Error {
    if (!template.includes(RECORD_ID_PLACEHOLDER)) {
        return new Error(`The call page template has no ${RECORD_ID_PLACEHOLDER} placeholder.`)
    }
    let url: URL
    try {
        url = new URL(template.replace(RECORD_ID_PLACEHOLDER, encodeURIComponent(recordId)))
    } catch {
        return new Error("The call page template is not a URL.")
    }
    if (url.protocol !== "https:" && url.hostname !== "127.0.0.1" && url.hostname !== "localhost") {
        return new Error("The call page must be served over https.")
    }
    return url.toString()
}
