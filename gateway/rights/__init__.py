"""Users' rights: retention and purging, data export."""
