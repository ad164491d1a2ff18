-- massupdate: Zoho CRM Mass Update API from SQL.
-- This script is generated from sql/install/*.sql in name order.

\echo Use "CREATE EXTENSION massupdate" to load this file. \quit
