"""The approvers' web pages (`budbringer web`): signed personal links, the approval page, the preview and the
plan as a document. Plain Python and FastAPI; the Prefect side (resuming a waiting run) is injected from
`budbringer.flows.web`."""
