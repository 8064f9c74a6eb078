"""Reporting helpers shared by the studies: figures (without pyplot) and Markdown."""
