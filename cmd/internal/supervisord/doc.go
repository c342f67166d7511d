// Package supervisord groups tend's compatibility with supervisord, so that
// a site can move from supervisord to tend without rewriting its
// configuration or its operators' habits:
//
//   - importer turns a supervisord.conf (and everything it includes) into a
//     tend.toml, reporting every setting it cannot carry over;
//   - xmlrpc serves enough of supervisord's XML-RPC interface for the real
//     supervisorctl to drive a tend daemon.
//
// This package itself holds no code. Its sub-packages may not start or
// signal processes, or write the event log, themselves: the importer only
// reads files and returns bytes, and the XML-RPC server acts only through
// the Control its caller supplies.
package supervisord
