"""The SMTP protocol engine shared by smtpd and submitd, and (later) mail
authentication and the outbound client used by deliverd."""
