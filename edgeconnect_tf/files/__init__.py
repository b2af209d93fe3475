"""Files: listing and reading images, their headers, atomic writes."""
