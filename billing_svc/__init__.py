"""billing_svc: users, credits, reservations, Stars payments, subscriptions, referrals."""
