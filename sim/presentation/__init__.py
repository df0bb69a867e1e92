"""What people read: figures (one palette), the report and comparison documents, HTML and Markdown."""
