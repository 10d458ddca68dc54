"""One construct per capability, plus the platform they share."""
