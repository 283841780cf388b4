"""The bottom layer: a file written whole or not at all (atomic), a settings file read strictly
(schema), a figure drawn and saved (figures), and the code version recorded with every result
(provenance). Nothing here knows what a study or a model is."""
