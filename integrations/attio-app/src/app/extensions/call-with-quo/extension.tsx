/**
 * "Call with Quo" on people: opens Switchboard's call page for the record the action was
 * triggered on. App UI cannot reach the outside world directly; the documented way out is
 * `<Link href>` (an external URL, after Attio's confirmation prompt) in a dialog.
 */

import {Extensions, showDialog} from "attio/client"
import {CALL_PAGE_TEMPLATE} from "../../call-page-config"
import {CallWithQuoDialog} from "./call-with-quo-dialog"

export default Extensions.defineExtension({
    id: "call-with-quo",
    type: "record-action",
    label: "Call with Quo",
    icon: "Phone",
    objects: "people",
    onTrigger: async ({recordId}) => {
        await showDialog({
            title: "Call with Quo",
            Dialog: () => <CallWithQuoDialog recordId={recordId} template={CALL_PAGE_TEMPLATE} />,
        })
    },
})
