"""What the app checks about an answer: evidence marks in the sources and the checks shown under it."""
