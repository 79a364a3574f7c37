DROP TABLE many_to_one_mappings;
DROP TABLE mappings;
