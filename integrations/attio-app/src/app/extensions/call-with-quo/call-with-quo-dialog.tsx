import {Link, Typography} from "attio/client"
import {callPageUrl} from "../../call-page"

/** The dialog: one link to the call page for this record (or why there is none). */
export function CallWithQuoDialog({recordId, template}: {recordId: string; template: string}) {
    const url = callPageUrl(template, recordId)
    if (url instanceof Error) {
        return <Typography.Body>{url.message} Ask your Switchboard admin for the link.</Typography.Body>
    }
    return (
        <Typography.Body>
            <Link href={url}>Open the call page</Link> to pick a number and the Quo line to call
            from. The call will be logged on this person.
        </Typography.Body>
    )
}
