"""The report: tables, figures and pages (markdown and HTML) read from the studies' results. Trains and
evaluates nothing."""
