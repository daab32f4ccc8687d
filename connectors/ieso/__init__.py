"""Ontario IESO: public XML reports (reports-public.ieso.ca)."""
