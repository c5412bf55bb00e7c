// A stand-in for the runtime Attio provides (see vitest.config.ts).
import type {ReactNode} from "react"

export interface ShownDialog {
    title: string
    Dialog: (props: {hideDialog: () => void}) => ReactNode
}

export const shown: ShownDialog[] = []

export async function showDialog(options: ShownDialog): Promise<void> {
    shown.push(options)
}

export const Extensions = {
    defineExtension<T>(extension: T): T {
        return extension
    },
}

export function Link({href, children}: {href: string; children: ReactNode}) {
    return <a href={href}>{children}</a>
}

export const Typography = {
    Body: ({children}: {children: ReactNode}) => <p>{children}</p>,
}
