"""Server-rendered Russian (and English) pages; every form works without JavaScript."""
