import {renderToStaticMarkup} from "react-dom/server"
import {beforeEach, describe, expect, it} from "vitest"
import {callPageUrl} from "../src/app/call-page"
import {CALL_PAGE_TEMPLATE} from "../src/app/call-page-config"
import extension from "../src/app/extensions/call-with-quo/extension"
import type {ShownDialog} from "./stubs/attio-client"
import {shown} from "./stubs/attio-client"

const TEMPLATE = "https://sb.example.com/call/conn_abc/{person_id}?k=s3cret"

describe("callPageUrl", () => {
    it("puts the record id into the template", () => {
        expect(callPageUrl(TEMPLATE, "7c2f-record")).toBe(
            "https://sb.example.com/call/conn_abc/7c2f-record?k=s3cret",
        )
    })
    it("escapes the record id", () => {
        expect(callPageUrl(TEMPLATE, "a/b?c")).toBe(
            "https://sb.example.com/call/conn_abc/a%2Fb%3Fc?k=s3cret",
        )
    })
    it("refuses templates without the placeholder, non-URLs and plain http", () => {
        expect(callPageUrl("https://sb.example.com/call/x", "r")).toBeInstanceOf(Error)
        expect(callPageUrl("not a url {person_id}", "r")).toBeInstanceOf(Error)
        expect(callPageUrl("http://sb.example.com/call/c/{person_id}", "r")).toBeInstanceOf(Error)
    })
})

describe("the Call with Quo record action", () => {
    beforeEach(() => {
        shown.length = 0
    })

    it("is a record action on people", () => {
        expect(extension.type).toBe("record-action")
        expect(extension.label).toBe("Call with Quo")
        expect(extension.objects).toBe("people")
    })

    it("opens the call page for the record it was triggered on", async () => {
        await extension.onTrigger({recordId: "rec-42", object: "people"})
        expect(shown).toHaveLength(1)
        const dialog = shown[0] as ShownDialog
        const html = renderToStaticMarkup(<>{dialog.Dialog({hideDialog: () => undefined})}</>)
        const expected = callPageUrl(CALL_PAGE_TEMPLATE, "rec-42")
        expect(typeof expected).toBe("string")
        expect(html).toContain(`href="${String(expected).replace(/&/g, "&amp;")}"`)
        expect(html).toContain("/rec-42?")
    })
})
