"""Long-term memory: a Pixeltable store of code, ADRs, incidents and notes, searched semantically."""
