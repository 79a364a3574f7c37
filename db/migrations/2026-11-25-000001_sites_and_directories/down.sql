DROP TABLE directories;
DROP TABLE sites;
