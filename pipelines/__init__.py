"""The bundled pipeline code: pure modules (parsing, text building, correlation math) plus thin pipeline wiring.

Everything under this package is uploaded to the workspace by the stacks, so it must not import `infra` or
`lakehouse` (neither is deployed).
"""
