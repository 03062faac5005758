"""Sign-in for the admin app: sessions, CSRF, and who may read what."""
