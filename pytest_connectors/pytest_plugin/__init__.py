"""pytest glue; the only part of the package that imports pytest."""
