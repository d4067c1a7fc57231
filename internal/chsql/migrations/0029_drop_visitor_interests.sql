-- 0028 moved the profile page's interests to interest_visitors.
DROP TABLE IF EXISTS visitor_interests;
