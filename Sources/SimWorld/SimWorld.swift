// SimWorld module: see ../shared/DESIGN.md for what it owns. Filled in by its issue.
